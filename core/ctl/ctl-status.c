/* posthornctl status|plugins|sessions|reload|kick: the command-line face
 * of the D-Bus interface org.posthorn.Posthorn1 (data/org.posthorn.Posthorn1.xml).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ph-private.h"
#include "ctl/ctl.h"

#include <stdio.h>
#include <string.h>

#define CTL_BUS_NAME "org.posthorn.Posthorn1"
#define CTL_OBJECT_PATH "/org/posthorn/Posthorn1"
#define CTL_INTERFACE "org.posthorn.Posthorn1"
#define CTL_CALL_TIMEOUT_MS 30000

typedef struct {
  gboolean json;
  gboolean session;
  gboolean system;
} CtlStatusOptions;

/* ---- JSON output (strings escaped per RFC 8259) ---- */

static void
ctl_json_string (GString *out, const char *text)
{
  g_string_append_c (out, '"');
  for (const char *p = text; *p != '\0'; p++)
    {
      guchar c = (guchar) *p;

      if (c == '"' || c == '\\')
        g_string_append_printf (out, "\\%c", c);
      else if (c == '\n')
        g_string_append (out, "\\n");
      else if (c == '\t')
        g_string_append (out, "\\t");
      else if (c == '\r')
        g_string_append (out, "\\r");
      else if (c < 0x20)
        g_string_append_printf (out, "\\u%04x", c);
      else
        g_string_append_c (out, (char) c);
    }
  g_string_append_c (out, '"');
}

static void
ctl_json_key (GString *out, gboolean *first, const char *key)
{
  if (!*first)
    g_string_append_c (out, ',');
  *first = FALSE;
  ctl_json_string (out, key);
  g_string_append_c (out, ':');
}

/* ---- the bus ---- */

static GDBusConnection *
ctl_connect (const CtlStatusOptions *options, const char **bus_name)
{
  g_autoptr (GError) error = NULL;
  GBusType type = options->session ? G_BUS_TYPE_SESSION : G_BUS_TYPE_SYSTEM;
  GDBusConnection *connection;

  *bus_name = options->session ? "session" : "system";
  connection = g_bus_get_sync (type, NULL, &error);
  if (connection == NULL)
    fprintf (stderr, "posthornctl: cannot connect to the %s bus: %s\n", *bus_name, error->message);
  return connection;
}

/* Calls @method of @interface_name on the daemon; NULL after printing why
 * (the daemon not running, access denied, the method's own error). */
static GVariant *
ctl_call (const CtlStatusOptions *options, const char *interface_name, const char *method,
          GVariant *parameters, const GVariantType *reply_type)
{
  g_autoptr (GDBusConnection) connection = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *remote = NULL;
  const char *bus_name;
  GVariant *reply;

  connection = ctl_connect (options, &bus_name);
  if (connection == NULL)
    {
      if (parameters != NULL)
        g_variant_unref (g_variant_ref_sink (parameters));
      return NULL;
    }
  reply = g_dbus_connection_call_sync (connection, CTL_BUS_NAME, CTL_OBJECT_PATH, interface_name,
                                       method, parameters, reply_type,
                                       G_DBUS_CALL_FLAGS_NO_AUTO_START, CTL_CALL_TIMEOUT_MS,
                                       NULL, &error);
  if (reply != NULL)
    return reply;

  remote = g_dbus_error_get_remote_error (error);
  g_dbus_error_strip_remote_error (error);
  if (g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
      g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER))
    fprintf (stderr, "posthornctl: posthornd is not running (nobody owns %s on the %s bus%s)\n",
             CTL_BUS_NAME, bus_name,
             options->session ? "" : "; try --session if it uses [dbus] bus=session");
  else if (g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED))
    fprintf (stderr, "posthornctl: %s: permission denied (only root and members of group "
             "posthorn may): %s\n", method, error->message);
  else
    fprintf (stderr, "posthornctl: %s: %s\n", method, error->message);
  return NULL;
}

static GVariant *
ctl_get_all (const CtlStatusOptions *options)
{
  g_autoptr (GVariant) reply = ctl_call (options, "org.freedesktop.DBus.Properties", "GetAll",
                                         g_variant_new ("(s)", CTL_INTERFACE),
                                         G_VARIANT_TYPE ("(a{sv})"));

  if (reply == NULL)
    return NULL;
  return g_variant_get_child_value (reply, 0);
}

/* The property @name of type @type from a GetAll reply; a missing or
 * mistyped one is an empty value of @type. */
static GVariant *
ctl_lookup (GVariant *properties, const char *name, const GVariantType *type)
{
  GVariant *value = g_variant_lookup_value (properties, name, type);

  if (value == NULL)
    {
      if (g_variant_type_is_array (type))
        value = g_variant_ref_sink (g_variant_new_array (g_variant_type_element (type), NULL, 0));
      else if (g_variant_type_equal (type, G_VARIANT_TYPE_STRING))
        value = g_variant_ref_sink (g_variant_new_string (""));
      else
        value = g_variant_ref_sink (g_variant_new_uint64 (0));
    }
  return value;
}

/* ---- tables ---- */

static void
ctl_print_row (const char *const *row, guint n_columns, const guint *widths, const char *indent)
{
  g_autoptr (GString) line = g_string_new (indent);

  for (guint c = 0; c < n_columns; c++)
    {
      g_string_append (line, row[c]);
      if (c + 1 < n_columns)
        for (guint pad = (guint) g_utf8_strlen (row[c], -1); pad < widths[c] + 2; pad++)
          g_string_append_c (line, ' ');
    }
  printf ("%s\n", line->str);
}

/* Prints @header and the rows in @cells (a flat array of strings,
 * @n_columns a row), each column as wide as its widest cell. */
static void
ctl_print_table (const char *const *header, GPtrArray *cells, guint n_columns, const char *indent)
{
  g_autofree guint *widths = g_new0 (guint, n_columns);

  for (guint c = 0; c < n_columns; c++)
    widths[c] = (guint) g_utf8_strlen (header[c], -1);
  for (guint i = 0; i < cells->len; i++)
    widths[i % n_columns] = MAX (widths[i % n_columns],
                                 (guint) g_utf8_strlen (g_ptr_array_index (cells, i), -1));
  ctl_print_row (header, n_columns, widths, indent);
  for (guint i = 0; i + n_columns <= cells->len; i += n_columns)
    ctl_print_row ((const char *const *) &cells->pdata[i], n_columns, widths, indent);
}

static char *
ctl_format_time (gint64 unix_seconds)
{
  g_autoptr (GDateTime) time = g_date_time_new_from_unix_local (unix_seconds);

  if (time == NULL)
    return g_strdup ("-");
  return g_date_time_format (time, "%Y-%m-%d %H:%M:%S");
}

static char *
ctl_format_duration (gint64 seconds)
{
  if (seconds < 0)
    seconds = 0;
  if (seconds < 60)
    return g_strdup_printf ("%" G_GINT64_FORMAT "s", seconds);
  if (seconds < 3600)
    return g_strdup_printf ("%" G_GINT64_FORMAT "m %" G_GINT64_FORMAT "s", seconds / 60, seconds % 60);
  if (seconds < 86400)
    return g_strdup_printf ("%" G_GINT64_FORMAT "h %" G_GINT64_FORMAT "m",
                            seconds / 3600, seconds % 3600 / 60);
  return g_strdup_printf ("%" G_GINT64_FORMAT "d %" G_GINT64_FORMAT "h",
                          seconds / 86400, seconds % 86400 / 3600);
}

/* ---- argument parsing ---- */

/* Parses the common options; @n_args is how many positional arguments the
 * command takes (they are left in argv[1..]). Returns FALSE (exit 2)
 * after printing the problem. */
static gboolean
ctl_parse (int *argc, char ***argv, CtlStatusOptions *options, const char *parameter,
           const char *summary, int n_args)
{
  GOptionEntry entries[] = {
    { "json", 'j', 0, G_OPTION_ARG_NONE, &options->json, "Print JSON for scripts", NULL },
    { "system", 0, 0, G_OPTION_ARG_NONE, &options->system, "Ask the daemon on the system bus (default)", NULL },
    { "session", 0, 0, G_OPTION_ARG_NONE, &options->session, "Ask the daemon on the session bus", NULL },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr (GOptionContext) context = g_option_context_new (parameter);
  g_autoptr (GError) error = NULL;
  g_autofree char *prgname = g_strdup_printf ("posthornctl %s", (*argv)[0]);

  g_set_prgname (prgname);
  g_option_context_set_summary (context, summary);
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, argc, argv, &error))
    {
      fprintf (stderr, "%s: %s\n", prgname, error->message);
      return FALSE;
    }
  if (options->session && options->system)
    {
      fprintf (stderr, "%s: --session and --system exclude each other\n", prgname);
      return FALSE;
    }
  if (*argc - 1 != n_args)
    {
      fprintf (stderr, "%s: expected %s (see --help)\n", prgname,
               n_args == 0 ? "no arguments" : parameter);
      return FALSE;
    }
  return TRUE;
}

/* ---- status ---- */

static void
ctl_status_print_json (GVariant *properties)
{
  g_autoptr (GVariant) version = ctl_lookup (properties, "Version", G_VARIANT_TYPE_STRING);
  g_autoptr (GVariant) start = ctl_lookup (properties, "StartTime", G_VARIANT_TYPE_UINT64);
  g_autoptr (GVariant) listeners = ctl_lookup (properties, "Listeners", G_VARIANT_TYPE ("a(sssb)"));
  g_autoptr (GVariant) sessions = ctl_lookup (properties, "Sessions", G_VARIANT_TYPE ("a{su}"));
  g_autoptr (GVariant) counters = ctl_lookup (properties, "Counters", G_VARIANT_TYPE ("a{st}"));
  g_autoptr (GString) out = g_string_new ("{");
  gboolean first = TRUE, inner;
  GVariantIter iter;
  const char *service, *address, *port, *name;
  gboolean tls;
  guint32 count;
  guint64 value;

  ctl_json_key (out, &first, "version");
  ctl_json_string (out, g_variant_get_string (version, NULL));
  ctl_json_key (out, &first, "start_time");
  g_string_append_printf (out, "%" G_GUINT64_FORMAT, g_variant_get_uint64 (start));

  ctl_json_key (out, &first, "listeners");
  g_string_append_c (out, '[');
  inner = TRUE;
  g_variant_iter_init (&iter, listeners);
  while (g_variant_iter_next (&iter, "(&s&s&sb)", &service, &address, &port, &tls))
    {
      gboolean field = TRUE;

      g_string_append (out, inner ? "{" : ",{");
      inner = FALSE;
      ctl_json_key (out, &field, "service");
      ctl_json_string (out, service);
      ctl_json_key (out, &field, "address");
      ctl_json_string (out, address);
      ctl_json_key (out, &field, "port");
      ctl_json_string (out, port);
      ctl_json_key (out, &field, "tls");
      g_string_append (out, tls ? "true}" : "false}");
    }
  g_string_append_c (out, ']');

  ctl_json_key (out, &first, "sessions");
  g_string_append_c (out, '{');
  inner = TRUE;
  g_variant_iter_init (&iter, sessions);
  while (g_variant_iter_next (&iter, "{&su}", &name, &count))
    {
      ctl_json_key (out, &inner, name);
      g_string_append_printf (out, "%u", count);
    }
  g_string_append_c (out, '}');

  ctl_json_key (out, &first, "counters");
  g_string_append_c (out, '{');
  inner = TRUE;
  g_variant_iter_init (&iter, counters);
  while (g_variant_iter_next (&iter, "{&st}", &name, &value))
    {
      ctl_json_key (out, &inner, name);
      g_string_append_printf (out, "%" G_GUINT64_FORMAT, value);
    }
  g_string_append (out, "}}");
  printf ("%s\n", out->str);
}

static void
ctl_status_print_text (GVariant *properties)
{
  static const char *const listener_header[] = { "SERVICE", "ADDRESS", "PORT", "TLS" };
  static const char *const pair_header[] = { "SERVICE", "OPEN" };
  static const char *const counter_header[] = { "COUNTER", "VALUE" };
  g_autoptr (GVariant) version = ctl_lookup (properties, "Version", G_VARIANT_TYPE_STRING);
  g_autoptr (GVariant) start = ctl_lookup (properties, "StartTime", G_VARIANT_TYPE_UINT64);
  g_autoptr (GVariant) listeners = ctl_lookup (properties, "Listeners", G_VARIANT_TYPE ("a(sssb)"));
  g_autoptr (GVariant) sessions = ctl_lookup (properties, "Sessions", G_VARIANT_TYPE ("a{su}"));
  g_autoptr (GVariant) counters = ctl_lookup (properties, "Counters", G_VARIANT_TYPE ("a{st}"));
  g_autoptr (GPtrArray) cells = g_ptr_array_new_with_free_func (g_free);
  gint64 started = (gint64) g_variant_get_uint64 (start);
  g_autofree char *since = ctl_format_time (started);
  g_autofree char *up = ctl_format_duration (g_get_real_time () / G_USEC_PER_SEC - started);
  GVariantIter iter;
  const char *service, *address, *port, *name;
  gboolean tls;
  guint32 count;
  guint64 value;

  printf ("posthornd %s, up %s (since %s)\n", g_variant_get_string (version, NULL), up, since);

  printf ("\nListeners:\n");
  g_variant_iter_init (&iter, listeners);
  while (g_variant_iter_next (&iter, "(&s&s&sb)", &service, &address, &port, &tls))
    {
      g_ptr_array_add (cells, g_strdup (service));
      g_ptr_array_add (cells, g_strdup (address));
      g_ptr_array_add (cells, g_strdup (port[0] != '\0' ? port : "-"));
      g_ptr_array_add (cells, g_strdup (tls ? "implicit" : "-"));
    }
  ctl_print_table (listener_header, cells, 4, "  ");

  printf ("\nSessions:\n");
  g_ptr_array_set_size (cells, 0);
  g_variant_iter_init (&iter, sessions);
  while (g_variant_iter_next (&iter, "{&su}", &name, &count))
    {
      g_ptr_array_add (cells, g_strdup (name));
      g_ptr_array_add (cells, g_strdup_printf ("%u", count));
    }
  ctl_print_table (pair_header, cells, 2, "  ");

  printf ("\nCounters:\n");
  g_ptr_array_set_size (cells, 0);
  g_variant_iter_init (&iter, counters);
  while (g_variant_iter_next (&iter, "{&st}", &name, &value))
    {
      g_ptr_array_add (cells, g_strdup (name));
      g_ptr_array_add (cells, g_strdup_printf ("%" G_GUINT64_FORMAT, value));
    }
  ctl_print_table (counter_header, cells, 2, "  ");
}

int
ctl_status_main (int argc, char **argv)
{
  CtlStatusOptions options = { 0 };
  g_autoptr (GVariant) properties = NULL;

  if (!ctl_parse (&argc, &argv, &options, "", "Show the running daemon's version, listeners, "
                  "open sessions and counters.", 0))
    return 2;
  properties = ctl_get_all (&options);
  if (properties == NULL)
    return 1;
  if (options.json)
    ctl_status_print_json (properties);
  else
    ctl_status_print_text (properties);
  return 0;
}

/* ---- plugins ---- */

int
ctl_plugins_main (int argc, char **argv)
{
  static const char *const header[] = { "NAME", "KIND", "VERSION", "STATE" };
  CtlStatusOptions options = { 0 };
  g_autoptr (GVariant) properties = NULL;
  g_autoptr (GVariant) plugins = NULL;
  g_autoptr (GPtrArray) cells = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GString) out = g_string_new ("[");
  GVariantIter iter;
  const char *fields[4];

  if (!ctl_parse (&argc, &argv, &options, "", "List the running daemon's plugins.", 0))
    return 2;
  properties = ctl_get_all (&options);
  if (properties == NULL)
    return 1;
  plugins = ctl_lookup (properties, "Plugins", G_VARIANT_TYPE ("a(ssss)"));

  g_variant_iter_init (&iter, plugins);
  while (g_variant_iter_next (&iter, "(&s&s&s&s)", &fields[0], &fields[1], &fields[2], &fields[3]))
    {
      static const char *const keys[] = { "name", "kind", "version", "state" };
      gboolean first = TRUE;

      g_string_append (out, out->len > 1 ? ",{" : "{");
      for (guint i = 0; i < 4; i++)
        {
          ctl_json_key (out, &first, keys[i]);
          ctl_json_string (out, fields[i]);
          g_ptr_array_add (cells, g_strdup (fields[i]));
        }
      g_string_append_c (out, '}');
    }
  g_string_append_c (out, ']');
  if (options.json)
    printf ("%s\n", out->str);
  else
    ctl_print_table (header, cells, 4, "");
  return 0;
}

/* ---- sessions ---- */

int
ctl_sessions_main (int argc, char **argv)
{
  static const char *const header[] = { "SERVICE", "USER", "PEER", "STATE", "SINCE" };
  CtlStatusOptions options = { 0 };
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) sessions = NULL;
  g_autoptr (GPtrArray) cells = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GString) out = g_string_new ("[");
  GVariantIter iter;
  const char *service, *user, *peer, *state;
  gint64 start;

  if (!ctl_parse (&argc, &argv, &options, "", "List the open sessions (root and group "
                  "posthorn only).", 0))
    return 2;
  reply = ctl_call (&options, CTL_INTERFACE, "ListSessions", NULL, G_VARIANT_TYPE ("(a(ssssx))"));
  if (reply == NULL)
    return 1;
  sessions = g_variant_get_child_value (reply, 0);

  g_variant_iter_init (&iter, sessions);
  while (g_variant_iter_next (&iter, "(&s&s&s&sx)", &service, &user, &peer, &state, &start))
    {
      gboolean first = TRUE;

      g_string_append (out, out->len > 1 ? ",{" : "{");
      ctl_json_key (out, &first, "service");
      ctl_json_string (out, service);
      ctl_json_key (out, &first, "user");
      ctl_json_string (out, user);
      ctl_json_key (out, &first, "peer");
      ctl_json_string (out, peer);
      ctl_json_key (out, &first, "state");
      ctl_json_string (out, state);
      ctl_json_key (out, &first, "start");
      g_string_append_printf (out, "%" G_GINT64_FORMAT "}", start);

      g_ptr_array_add (cells, g_strdup (service));
      g_ptr_array_add (cells, g_strdup (user[0] != '\0' ? user : "-"));
      g_ptr_array_add (cells, g_strdup (peer));
      g_ptr_array_add (cells, g_strdup (state));
      g_ptr_array_add (cells, ctl_format_time (start));
    }
  g_string_append_c (out, ']');
  if (options.json)
    printf ("%s\n", out->str);
  else
    ctl_print_table (header, cells, 5, "");
  return 0;
}

/* ---- reload, kick ---- */

int
ctl_reload_main (int argc, char **argv)
{
  CtlStatusOptions options = { 0 };
  g_autoptr (GVariant) reply = NULL;

  if (!ctl_parse (&argc, &argv, &options, "", "Reload the configuration, certificates and "
                  "what plugins can re-read, as SIGHUP does (root and group posthorn only).", 0))
    return 2;
  reply = ctl_call (&options, CTL_INTERFACE, "Reload", NULL, G_VARIANT_TYPE_UNIT);
  if (reply == NULL)
    return 1;
  printf (options.json ? "{\"reloaded\":true}\n" : "reloaded\n");
  return 0;
}

int
ctl_kick_main (int argc, char **argv)
{
  CtlStatusOptions options = { 0 };
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GString) out = g_string_new ("{");
  gboolean first = TRUE;
  guint32 closed;

  if (!ctl_parse (&argc, &argv, &options, "USER", "Close every session of USER (root and "
                  "group posthorn only).", 1))
    return 2;
  reply = ctl_call (&options, CTL_INTERFACE, "KickUser", g_variant_new ("(s)", argv[1]),
                    G_VARIANT_TYPE ("(u)"));
  if (reply == NULL)
    return 1;
  g_variant_get (reply, "(u)", &closed);
  if (options.json)
    {
      ctl_json_key (out, &first, "user");
      ctl_json_string (out, argv[1]);
      ctl_json_key (out, &first, "closed");
      g_string_append_printf (out, "%u}", closed);
      printf ("%s\n", out->str);
    }
  else
    printf ("%u session(s) of %s asked to close\n", closed, argv[1]);
  return 0;
}
