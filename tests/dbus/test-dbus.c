/* org.posthorn.Posthorn1 against a real posthornd on a private bus
 * (GTestDBus), posthornctl's status commands, and the access control of
 * the privileged methods (a dbus-daemon of our own, uid 65534).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "dbus-test-util.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

typedef struct {
  GTestDBus *test_bus;
  PhTestServer *server;
  GDBusConnection *bus;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->test_bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (f->test_bus);
  /* posthornd and posthornctl --session find the bus through
   * DBUS_SESSION_BUS_ADDRESS, which g_test_dbus_up() set. */
  f->server = dbus_test_server_new ("session");
  f->bus = dbus_test_connect (g_test_dbus_get_bus_address (f->test_bus));
  dbus_test_wait_for_daemon (f->bus);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  if (f->bus != NULL)
    g_dbus_connection_close_sync (f->bus, NULL, NULL);
  g_clear_object (&f->bus);
  g_clear_pointer (&f->server, ph_test_server_free);
  g_test_dbus_down (f->test_bus);
  g_clear_object (&f->test_bus);
}

static guint64
counter_value (GVariant *counters, const char *name)
{
  guint64 value = 0;

  g_variant_lookup (counters, name, "t", &value);
  return value;
}

static void
wait_until_session_count (Fixture *f, const char *service, guint expected)
{
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

  for (;;)
    {
      g_autoptr (GVariant) sessions = dbus_test_get (f->bus, "Sessions");
      guint32 count = G_MAXUINT32;

      g_variant_lookup (sessions, service, "u", &count);
      if (count == expected)
        return;
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (20000);
    }
}

/* ---- introspection ---- */

static void
assert_interfaces_equal (GDBusInterfaceInfo *want, GDBusInterfaceInfo *got)
{
  guint n;

  g_assert_cmpstr (want->name, ==, got->name);
  for (n = 0; want->methods != NULL && want->methods[n] != NULL; n++)
    {
      GDBusMethodInfo *m = want->methods[n];
      GDBusMethodInfo *g = g_dbus_interface_info_lookup_method (got, m->name);
      guint a;

      g_assert_nonnull (g);
      for (a = 0; m->in_args != NULL && m->in_args[a] != NULL; a++)
        g_assert_cmpstr (m->in_args[a]->signature, ==, g->in_args[a]->signature);
      g_assert_true (g->in_args == NULL || g->in_args[a] == NULL);
      for (a = 0; m->out_args != NULL && m->out_args[a] != NULL; a++)
        {
          g_assert_cmpstr (m->out_args[a]->name, ==, g->out_args[a]->name);
          g_assert_cmpstr (m->out_args[a]->signature, ==, g->out_args[a]->signature);
        }
      g_assert_true (g->out_args == NULL || g->out_args[a] == NULL);
    }
  g_assert_true (got->methods == NULL || got->methods[n] == NULL);
  for (n = 0; want->properties != NULL && want->properties[n] != NULL; n++)
    {
      GDBusPropertyInfo *p = want->properties[n];
      GDBusPropertyInfo *g = g_dbus_interface_info_lookup_property (got, p->name);

      g_assert_nonnull (g);
      g_assert_cmpstr (p->signature, ==, g->signature);
      g_assert_cmpint (p->flags, ==, g->flags);
    }
  g_assert_true (got->properties == NULL || got->properties[n] == NULL);
}

static GDBusNodeInfo *
introspect_with_gdbus (Fixture *f, const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int status = 0;
  const char *argv[] = { "gdbus", "introspect", "--session", "--dest", "org.posthorn.Posthorn1",
                         "--object-path", path, "--xml", NULL };
  GDBusNodeInfo *node;

  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                &out, &err, &status, &error);
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  node = g_dbus_node_info_new_for_xml (out, &error);
  g_assert_no_error (error);
  return node;
}

static void
test_introspect_matches_xml (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *xml = NULL;
  g_autoptr (GDBusNodeInfo) want = NULL;
  g_autoptr (GDBusNodeInfo) got = NULL;
  g_autoptr (GDBusNodeInfo) got_plugin = NULL;
  gboolean has_plugins_child = FALSE;

  g_assert_true (g_file_get_contents (DBUS_INTERFACE_XML, &xml, NULL, &error));
  want = g_dbus_node_info_new_for_xml (xml, &error);
  g_assert_no_error (error);

  got = introspect_with_gdbus (f, "/org/posthorn/Posthorn1");
  assert_interfaces_equal (g_dbus_node_info_lookup_interface (want, "org.posthorn.Posthorn1"),
                           g_dbus_node_info_lookup_interface (got, "org.posthorn.Posthorn1"));
  for (guint i = 0; got->nodes != NULL && got->nodes[i] != NULL; i++)
    has_plugins_child |= g_strcmp0 (got->nodes[i]->path, "plugins") == 0;
  g_assert_true (has_plugins_child);

  got_plugin = introspect_with_gdbus (f, "/org/posthorn/Posthorn1/plugins/test_status");
  assert_interfaces_equal (g_dbus_node_info_lookup_interface (want, "org.posthorn.Posthorn1.Plugin"),
                           g_dbus_node_info_lookup_interface (got_plugin,
                                                              "org.posthorn.Posthorn1.Plugin"));
}

/* ---- properties ---- */

static void
test_properties_version_plugins (Fixture *f, gconstpointer data)
{
  g_autoptr (GVariant) version = dbus_test_get (f->bus, "Version");
  g_autoptr (GVariant) start = dbus_test_get (f->bus, "StartTime");
  g_autoptr (GVariant) plugins = dbus_test_get (f->bus, "Plugins");
  guint64 now = (guint64) (g_get_real_time () / G_USEC_PER_SEC);
  const char *expected[] = { "auth-passwd-file", "storage-sqlite", "imap4", "metrics", "test-status" };
  GVariantIter iter;
  const char *name, *kind, *plugin_version, *state;
  guint i = 0;

  g_assert_cmpstr (g_variant_get_string (version, NULL), ==, POSTHORN_VERSION);
  g_assert_cmpuint (g_variant_get_uint64 (start), <=, now);
  g_assert_cmpuint (g_variant_get_uint64 (start), >=, now - 60);

  g_assert_cmpstr (g_variant_get_type_string (plugins), ==, "a(ssss)");
  g_variant_iter_init (&iter, plugins);
  while (g_variant_iter_next (&iter, "(&s&s&s&s)", &name, &kind, &plugin_version, &state))
    {
      g_assert_cmpuint (i, <, G_N_ELEMENTS (expected));
      g_assert_cmpstr (name, ==, expected[i]);
      g_assert_cmpstr (state, ==, "running");
      g_assert_cmpstr (plugin_version, !=, "");
      if (strcmp (name, "metrics") == 0 || strcmp (name, "imap4") == 0)
        g_assert_cmpstr (kind, ==, "protocol");
      if (strcmp (name, "storage-sqlite") == 0)
        g_assert_cmpstr (kind, ==, "storage");
      i++;
    }
  g_assert_cmpuint (i, ==, G_N_ELEMENTS (expected));
}

static void
test_properties_listeners (Fixture *f, gconstpointer data)
{
  g_autoptr (GVariant) listeners = dbus_test_get (f->bus, "Listeners");
  GVariantIter iter;
  const char *service, *address, *port;
  gboolean tls;
  guint seen = 0;

  g_assert_cmpstr (g_variant_get_type_string (listeners), ==, "a(sssb)");
  g_variant_iter_init (&iter, listeners);
  while (g_variant_iter_next (&iter, "(&s&s&sb)", &service, &address, &port, &tls))
    {
      g_autofree char *expected_port =
        g_strdup_printf ("%u", ph_test_server_get_port (f->server, service, tls));

      g_assert_cmpstr (address, ==, "127.0.0.1");
      g_assert_cmpstr (port, ==, expected_port);
      g_assert_false (tls);
      seen++;
    }
  g_assert_cmpuint (seen, ==, 3);  /* imap4, metrics, test-status */
}

static void
test_properties_sessions_counters (Fixture *f, gconstpointer data)
{
  g_autoptr (GVariant) before = dbus_test_get (f->bus, "Counters");
  g_autoptr (GVariant) sessions = NULL;
  g_autoptr (GVariant) counters = NULL;
  g_autoptr (PhTestClient) alice = NULL;
  g_autoptr (PhTestClient) wrong = NULL;
  guint32 open = 99;

  g_assert_cmpstr (g_variant_get_type_string (before), ==, "a{st}");
  g_assert_cmpuint (counter_value (before, "imap4.logins"), ==, 0);

  sessions = dbus_test_get (f->bus, "Sessions");
  g_assert_cmpstr (g_variant_get_type_string (sessions), ==, "a{su}");
  g_assert_true (g_variant_lookup (sessions, "imap4", "u", &open));
  g_assert_cmpuint (open, ==, 0);
  g_assert_true (g_variant_lookup (sessions, "metrics", "u", &open));
  g_clear_pointer (&sessions, g_variant_unref);

  alice = dbus_test_imap_login (f->server, "alice@example.org");
  wrong = ph_test_client_connect (f->server, "imap4", FALSE);
  g_free (ph_test_client_expect_line_prefix (wrong, "* OK"));
  ph_test_client_send (wrong, "b LOGIN alice@example.org nope\r\n", -1);
  g_free (ph_test_client_expect_line_prefix (wrong, "b NO"));

  sessions = dbus_test_get (f->bus, "Sessions");
  g_assert_true (g_variant_lookup (sessions, "imap4", "u", &open));
  g_assert_cmpuint (open, ==, 2);

  counters = dbus_test_get (f->bus, "Counters");
  g_assert_cmpuint (counter_value (counters, "imap4.connections"), ==, 2);
  /* Exactly once each: the core's auth counts, the protocol does not. */
  g_assert_cmpuint (counter_value (counters, "imap4.logins"), ==, 1);
  g_assert_cmpuint (counter_value (counters, "imap4.logins_failed"), ==, 1);
  g_assert_cmpuint (counter_value (counters, "imap4.bytes_in"), >=,
                    strlen ("a LOGIN alice@example.org secret\r\nb LOGIN alice@example.org nope\r\n"));
  g_assert_cmpuint (counter_value (counters, "imap4.bytes_out"), >, 0);

  g_clear_pointer (&wrong, ph_test_client_free);
  wait_until_session_count (f, "imap4", 1);
}

/* ---- PropertiesChanged ---- */

typedef struct {
  guint signals;
  guint64 logins;
  guint32 imap_sessions;
  gint64 times[64];
} Changes;

static void
on_properties_changed (GDBusConnection *connection, const char *sender, const char *path,
                       const char *interface_name, const char *signal_name,
                       GVariant *parameters, gpointer user_data)
{
  Changes *changes = user_data;
  g_autoptr (GVariant) changed = NULL;
  g_autoptr (GVariant) counters = NULL;
  g_autoptr (GVariant) sessions = NULL;
  const char *iface = NULL;

  g_variant_get (parameters, "(&s@a{sv}@as)", &iface, &changed, NULL);
  g_assert_cmpstr (iface, ==, "org.posthorn.Posthorn1");
  if (changes->signals < G_N_ELEMENTS (changes->times))
    changes->times[changes->signals] = g_get_monotonic_time ();
  changes->signals++;
  counters = g_variant_lookup_value (changed, "Counters", G_VARIANT_TYPE ("a{st}"));
  if (counters != NULL)
    changes->logins = counter_value (counters, "imap4.logins");
  sessions = g_variant_lookup_value (changed, "Sessions", G_VARIANT_TYPE ("a{su}"));
  if (sessions != NULL)
    g_variant_lookup (sessions, "imap4", "u", &changes->imap_sessions);
}

static gboolean
quit_loop (gpointer loop)
{
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

static void
run_loop_for (guint ms)
{
  g_autoptr (GMainLoop) loop = g_main_loop_new (NULL, FALSE);

  g_timeout_add (ms, quit_loop, loop);
  g_main_loop_run (loop);
}

static void
test_signal_after_login (Fixture *f, gconstpointer data)
{
  Changes changes = { 0 };
  g_autoptr (PhTestClient) alice = NULL;
  g_autoptr (GPtrArray) clients = g_ptr_array_new_with_free_func ((GDestroyNotify) ph_test_client_free);
  gint64 deadline;
  guint id;

  id = g_dbus_connection_signal_subscribe (f->bus, "org.posthorn.Posthorn1",
                                           "org.freedesktop.DBus.Properties", "PropertiesChanged",
                                           "/org/posthorn/Posthorn1", NULL,
                                           G_DBUS_SIGNAL_FLAGS_NONE, on_properties_changed,
                                           &changes, NULL);
  /* Let the subscription reach the bus before anything changes. */
  g_assert_true (g_dbus_connection_flush_sync (f->bus, NULL, NULL));
  run_loop_for (50);

  alice = dbus_test_imap_login (f->server, "alice@example.org");
  deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (changes.logins < 1 && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (changes.logins, >=, 1);
  g_assert_cmpuint (changes.imap_sessions, ==, 1);

  /* Coalesced: twenty sessions opening and closing over ~1.5 s make at
   * most one signal a second. */
  changes.signals = 0;
  for (guint i = 0; i < 20; i++)
    {
      g_ptr_array_add (clients, ph_test_client_connect (f->server, "imap4", FALSE));
      if (i % 4 == 3)
        run_loop_for (300);
    }
  g_ptr_array_set_size (clients, 0);
  run_loop_for (1100);
  g_assert_cmpuint (changes.signals, >=, 1);
  g_assert_cmpuint (changes.signals, <=, 3);
  for (guint i = 1; i < MIN (changes.signals, G_N_ELEMENTS (changes.times)); i++)
    g_assert_cmpint (changes.times[i] - changes.times[i - 1], >=, 900 * G_TIME_SPAN_MILLISECOND);
  g_dbus_connection_signal_unsubscribe (f->bus, id);
}

/* ---- methods ---- */

static void
test_method_list_sessions (Fixture *f, gconstpointer data)
{
  g_autoptr (PhTestClient) alice = dbus_test_imap_login (f->server, "alice@example.org");
  g_autoptr (PhTestClient) anonymous = ph_test_client_connect (f->server, "imap4", FALSE);
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) sessions = NULL;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  GVariantIter iter;
  const char *service, *user, *peer, *state;
  gint64 start;
  guint with_user = 0, without_user = 0;

  g_free (ph_test_client_expect_line_prefix (anonymous, "* OK"));
  reply = dbus_test_call (f->bus, "ListSessions", NULL, G_VARIANT_TYPE ("(a(ssssx))"), &error);
  g_assert_no_error (error);
  sessions = g_variant_get_child_value (reply, 0);
  g_variant_iter_init (&iter, sessions);
  while (g_variant_iter_next (&iter, "(&s&s&s&sx)", &service, &user, &peer, &state, &start))
    {
      g_assert_cmpstr (service, ==, "imap4");
      g_assert_cmpstr (peer, ==, "127.0.0.1");
      g_assert_cmpstr (state, !=, "");
      g_assert_cmpint (start, <=, now);
      g_assert_cmpint (start, >=, now - 60);
      if (strcmp (user, "alice@example.org") == 0)
        with_user++;
      else if (user[0] == '\0')
        without_user++;
    }
  g_assert_cmpuint (with_user, ==, 1);
  g_assert_cmpuint (without_user, ==, 1);
}

static void
test_method_kick_user (Fixture *f, gconstpointer data)
{
  g_autoptr (PhTestClient) alice1 = dbus_test_imap_login (f->server, "alice@example.org");
  g_autoptr (PhTestClient) alice2 = dbus_test_imap_login (f->server, "alice@example.org");
  g_autoptr (PhTestClient) bob = dbus_test_imap_login (f->server, "bob@example.org");
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) again = NULL;
  guint32 closed = 0;

  reply = dbus_test_call (f->bus, "KickUser", g_variant_new ("(s)", "alice@example.org"),
                          G_VARIANT_TYPE ("(u)"), &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(u)", &closed);
  g_assert_cmpuint (closed, ==, 2);

  /* Through the protocol's shutdown path: IMAP says BYE, then closes. */
  g_free (ph_test_client_expect_line_prefix (alice1, "* BYE"));
  g_free (ph_test_client_expect_line_prefix (alice2, "* BYE"));
  g_assert_true (ph_test_client_wait_closed (alice1, 5000));
  g_assert_true (ph_test_client_wait_closed (alice2, 5000));

  ph_test_client_send (bob, "c NOOP\r\n", -1);
  g_free (ph_test_client_expect_line_prefix (bob, "c OK"));
  wait_until_session_count (f, "imap4", 1);

  again = dbus_test_call (f->bus, "KickUser", g_variant_new ("(s)", "nobody@example.org"),
                          G_VARIANT_TYPE ("(u)"), &error);
  g_assert_no_error (error);
  g_variant_get (again, "(u)", &closed);
  g_assert_cmpuint (closed, ==, 0);
}

static void
test_method_reload (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autofree char *remote = NULL;
  g_autofree char *log = NULL;

  reply = dbus_test_call (f->bus, "Reload", NULL, G_VARIANT_TYPE_UNIT, &error);
  g_assert_no_error (error);
  g_assert_nonnull (reply);

  /* A broken certificate: the reload fails, says why, and the old one stays. */
  g_assert_true (g_file_set_contents (ph_test_server_get_cert_path (f->server),
                                      "not a certificate\n", -1, NULL));
  g_clear_pointer (&reply, g_variant_unref);
  reply = dbus_test_call (f->bus, "Reload", NULL, G_VARIANT_TYPE_UNIT, &error);
  g_assert_null (reply);
  g_assert_nonnull (error);
  remote = g_dbus_error_get_remote_error (error);
  g_assert_cmpstr (remote, ==, "org.posthorn.Posthorn1.Error.Failed");
  g_assert_nonnull (strstr (error->message, "reload failed"));
  g_assert_nonnull (strstr (error->message, "tls"));
  g_assert_true (ph_test_server_is_running (f->server));
}

/* ---- a plugin's object ---- */

typedef struct {
  guint signals;
  guint64 queue_length;
} PluginChanges;

static void
on_plugin_changed (GDBusConnection *connection, const char *sender, const char *path,
                   const char *interface_name, const char *signal_name,
                   GVariant *parameters, gpointer user_data)
{
  PluginChanges *changes = user_data;
  g_autoptr (GVariant) changed = NULL;
  g_autoptr (GVariant) properties = NULL;
  const char *iface = NULL;

  g_variant_get (parameters, "(&s@a{sv}@as)", &iface, &changed, NULL);
  g_assert_cmpstr (iface, ==, "org.posthorn.Posthorn1.Plugin");
  properties = g_variant_lookup_value (changed, "Properties", G_VARIANT_TYPE ("a{sv}"));
  g_assert_nonnull (properties);
  changes->signals++;
  g_variant_lookup (properties, "queue_length", "t", &changes->queue_length);
}

static GVariant *
plugin_properties (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autofree char *name = NULL;
  GVariant *value = NULL;

  reply = g_dbus_connection_call_sync (f->bus, "org.posthorn.Posthorn1",
                                       "/org/posthorn/Posthorn1/plugins/test_status",
                                       "org.freedesktop.DBus.Properties", "GetAll",
                                       g_variant_new ("(s)", "org.posthorn.Posthorn1.Plugin"),
                                       G_VARIANT_TYPE ("(a{sv})"), G_DBUS_CALL_FLAGS_NONE, 10000,
                                       NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_variant_lookup (g_variant_get_child_value (reply, 0), "Name", "s", &name));
  g_assert_cmpstr (name, ==, "test-status");
  g_variant_lookup (g_variant_get_child_value (reply, 0), "Properties", "@a{sv}", &value);
  g_assert_nonnull (value);
  return value;
}

static void
test_plugin_object (Fixture *f, gconstpointer data)
{
  g_autoptr (PhTestClient) client = ph_test_client_connect (f->server, "test-status", FALSE);
  g_autoptr (GVariant) initial = plugin_properties (f);
  g_autoptr (GVariant) later = NULL;
  g_autoptr (GVariant) counters = NULL;
  PluginChanges changes = { 0 };
  guint32 queue = 99;
  guint64 queue64 = 0;
  const char *text = NULL;
  gint64 deadline;
  guint id;

  g_assert_true (g_variant_lookup (initial, "queue_length", "u", &queue));
  g_assert_cmpuint (queue, ==, 0);

  id = g_dbus_connection_signal_subscribe (f->bus, "org.posthorn.Posthorn1",
                                           "org.freedesktop.DBus.Properties", "PropertiesChanged",
                                           "/org/posthorn/Posthorn1/plugins/test_status", NULL,
                                           G_DBUS_SIGNAL_FLAGS_NONE, on_plugin_changed,
                                           &changes, NULL);
  g_assert_true (g_dbus_connection_flush_sync (f->bus, NULL, NULL));
  run_loop_for (50);

  g_free (ph_test_client_expect_line_prefix (client, "+OK"));
  dbus_test_status_command (client, "SET queue_length 5");
  dbus_test_status_command (client, "SET queue_length 7");
  dbus_test_status_command (client, "TEXT relay smarthost");
  dbus_test_status_command (client, "COUNT messages_queued 3");

  deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (changes.queue_length != 7 && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (changes.queue_length, ==, 7);
  g_assert_cmpuint (changes.signals, ==, 1);  /* 5 and 7 were coalesced */

  later = plugin_properties (f);
  g_assert_true (g_variant_lookup (later, "queue_length", "t", &queue64));
  g_assert_cmpuint (queue64, ==, 7);
  g_assert_true (g_variant_lookup (later, "relay", "&s", &text));
  g_assert_cmpstr (text, ==, "smarthost");

  counters = dbus_test_get (f->bus, "Counters");
  g_assert_cmpuint (counter_value (counters, "test_status.messages_queued"), ==, 3);
  g_dbus_connection_signal_unsubscribe (f->bus, id);
}

/* ---- posthornctl ---- */

static void
test_ctl_status (Fixture *f, gconstpointer data)
{
  g_autoptr (PhTestClient) alice = dbus_test_imap_login (f->server, "alice@example.org");
  const char *text_argv[] = { "status", "--session", NULL };
  const char *json_argv[] = { "status", "--session", "--json", NULL };
  g_autofree char *out = NULL, *err = NULL, *json = NULL, *json_err = NULL;
  g_autofree char *listener = NULL;
  g_autofree char *port_fragment = NULL;
  guint port = ph_test_server_get_port (f->server, "imap4", FALSE);

  g_assert_cmpint (dbus_test_run_ctl (text_argv, FALSE, &out, &err), ==, 0);
  g_assert_cmpstr (err, ==, "");
  g_assert_true (g_str_has_prefix (out, "posthornd " POSTHORN_VERSION ", up "));
  g_assert_true (g_regex_match_simple ("\\nListeners:\\n  SERVICE +ADDRESS +PORT +TLS\\n", out, 0, 0));
  listener = g_strdup_printf ("\\n  imap4 +127\\.0\\.0\\.1 +%u +-\\n", port);
  g_assert_true (g_regex_match_simple (listener, out, 0, 0));
  g_assert_true (g_regex_match_simple ("\\nSessions:\\n  SERVICE +OPEN\\n", out, 0, 0));
  g_assert_true (g_regex_match_simple ("\\n  imap4 +1\\n", out, 0, 0));
  g_assert_true (g_regex_match_simple ("\\nCounters:\\n  COUNTER +VALUE\\n", out, 0, 0));
  g_assert_true (g_regex_match_simple ("\\n  imap4\\.logins +[1-9]\\d*\\n", out, 0, 0));

  g_assert_cmpint (dbus_test_run_ctl (json_argv, FALSE, &json, &json_err), ==, 0);
  g_assert_cmpstr (json_err, ==, "");
  g_assert_true (g_str_has_prefix (json, "{\"version\":\"" POSTHORN_VERSION "\",\"start_time\":"));
  port_fragment = g_strdup_printf ("{\"service\":\"imap4\",\"address\":\"127.0.0.1\",\"port\":\"%u\",\"tls\":false}",
                                   port);
  g_assert_nonnull (strstr (json, port_fragment));
  g_assert_nonnull (strstr (json, "\"sessions\":{"));
  g_assert_nonnull (strstr (json, "\"imap4\":1"));
  g_assert_true (g_regex_match_simple ("\"imap4\\.logins\":[1-9]", json, 0, 0));
  g_assert_true (g_str_has_suffix (json, "}}\n"));
}

static void
test_ctl_plugins (Fixture *f, gconstpointer data)
{
  const char *text_argv[] = { "plugins", "--session", NULL };
  const char *json_argv[] = { "plugins", "--json", "--session", NULL };
  g_autofree char *out = NULL, *err = NULL, *json = NULL, *json_err = NULL;

  g_assert_cmpint (dbus_test_run_ctl (text_argv, FALSE, &out, &err), ==, 0);
  g_assert_true (g_regex_match_simple ("^NAME +KIND +VERSION +STATE\\n"
                                       "auth-passwd-file +auth +\\S+ +running\\n"
                                       "storage-sqlite +storage +\\S+ +running\\n"
                                       "imap4 +protocol +\\S+ +running\\n"
                                       "metrics +protocol +\\S+ +running\\n"
                                       "test-status +protocol +0\\.1\\.0 +running\\n$", out, 0, 0));

  g_assert_cmpint (dbus_test_run_ctl (json_argv, FALSE, &json, &json_err), ==, 0);
  g_assert_true (g_str_has_prefix (json, "[{\"name\":\"auth-passwd-file\",\"kind\":\"auth\",\"version\":\""));
  g_assert_nonnull (strstr (json, ",{\"name\":\"test-status\",\"kind\":\"protocol\",\"version\":\"0.1.0\",\"state\":\"running\"}]\n"));
}

static void
test_ctl_sessions_kick_reload (Fixture *f, gconstpointer data)
{
  g_autoptr (PhTestClient) alice = dbus_test_imap_login (f->server, "alice@example.org");
  const char *sessions_argv[] = { "sessions", "--session", NULL };
  const char *sessions_json_argv[] = { "sessions", "--session", "--json", NULL };
  const char *kick_argv[] = { "kick", "--session", "alice@example.org", NULL };
  const char *kick_json_argv[] = { "kick", "--session", "--json", "alice@example.org", NULL };
  const char *kick_usage_argv[] = { "kick", "--session", NULL };
  const char *reload_argv[] = { "reload", "--session", NULL };
  const char *reload_json_argv[] = { "reload", "--session", "--json", NULL };
  g_autofree char *out = NULL, *err = NULL;

  g_assert_cmpint (dbus_test_run_ctl (sessions_argv, FALSE, &out, &err), ==, 0);
  g_assert_true (g_regex_match_simple ("^SERVICE +USER +PEER +STATE +SINCE\\n"
                                       "imap4 +alice@example\\.org +127\\.0\\.0\\.1 +\\S+ +"
                                       "\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\n$", out, 0, 0));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  g_assert_cmpint (dbus_test_run_ctl (sessions_json_argv, FALSE, &out, &err), ==, 0);
  g_assert_true (g_regex_match_simple ("^\\[\\{\"service\":\"imap4\",\"user\":\"alice@example\\.org\","
                                       "\"peer\":\"127\\.0\\.0\\.1\",\"state\":\"[a-z]+\","
                                       "\"start\":\\d+\\}\\]\\n$", out, 0, 0));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  g_assert_cmpint (dbus_test_run_ctl (reload_argv, FALSE, &out, &err), ==, 0);
  g_assert_cmpstr (out, ==, "reloaded\n");
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (dbus_test_run_ctl (reload_json_argv, FALSE, &out, &err), ==, 0);
  g_assert_cmpstr (out, ==, "{\"reloaded\":true}\n");
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  g_assert_cmpint (dbus_test_run_ctl (kick_usage_argv, FALSE, &out, &err), ==, 2);
  g_assert_nonnull (strstr (err, "expected USER"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  g_assert_cmpint (dbus_test_run_ctl (kick_argv, FALSE, &out, &err), ==, 0);
  g_assert_cmpstr (out, ==, "1 session(s) of alice@example.org asked to close\n");
  g_assert_true (ph_test_client_wait_closed (alice, 5000));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  g_assert_cmpint (dbus_test_run_ctl (kick_json_argv, FALSE, &out, &err), ==, 0);
  g_assert_cmpstr (out, ==, "{\"user\":\"alice@example.org\",\"closed\":0}\n");
}

static void
test_ctl_not_running (Fixture *f, gconstpointer data)
{
  const char *argv[] = { "status", "--session", NULL };
  const char *both_argv[] = { "status", "--session", "--system", NULL };
  g_autofree char *out = NULL, *err = NULL;

  g_assert_cmpint (ph_test_server_stop (f->server), ==, 0);
  g_assert_cmpint (dbus_test_run_ctl (argv, FALSE, &out, &err), ==, 1);
  g_assert_cmpstr (out, ==, "");
  g_assert_cmpstr (err, ==, "posthornctl: posthornd is not running (nobody owns "
                            "org.posthorn.Posthorn1 on the session bus)\n");
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (dbus_test_run_ctl (both_argv, FALSE, &out, &err), ==, 2);
  g_assert_nonnull (strstr (err, "--session and --system exclude each other"));
}

/* ---- access control ---- */

/* The system bus's defaults (system.conf): connect yes, own and call no,
 * unless a policy file punches holes. */
#define SYSTEM_LIKE_POLICY \
  "  <policy context=\"default\">\n" \
  "    <allow user=\"*\"/>\n" \
  "    <deny own=\"*\"/>\n" \
  "    <deny send_type=\"method_call\"/>\n" \
  "    <allow send_type=\"signal\"/>\n" \
  "    <allow send_requested_reply=\"true\" send_type=\"method_return\"/>\n" \
  "    <allow send_requested_reply=\"true\" send_type=\"error\"/>\n" \
  "    <allow receive_type=\"method_call\"/>\n" \
  "    <allow receive_type=\"method_return\"/>\n" \
  "    <allow receive_type=\"error\"/>\n" \
  "    <allow receive_type=\"signal\"/>\n" \
  "    <allow send_destination=\"org.freedesktop.DBus\" send_interface=\"org.freedesktop.DBus\"/>\n" \
  "    <allow send_destination=\"org.freedesktop.DBus\" send_interface=\"org.freedesktop.DBus.Introspectable\"/>\n" \
  "  </policy>\n"

#define PERMISSIVE_POLICY \
  "  <policy context=\"default\">\n" \
  "    <allow user=\"*\"/>\n" \
  "    <allow own=\"*\"/>\n" \
  "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n" \
  "    <allow eavesdrop=\"true\"/>\n" \
  "  </policy>\n"

typedef struct {
  DbusTestDaemon *daemon;
  PhTestServer *server;
  GDBusConnection *bus;
} BusFixture;

static gboolean
bus_fixture_start (BusFixture *f, const char *policy, const char *bus_kind)
{
  f->daemon = dbus_test_daemon_new (policy);
  g_setenv (strcmp (bus_kind, "system") == 0 ? "DBUS_SYSTEM_BUS_ADDRESS" : "DBUS_SESSION_BUS_ADDRESS",
            dbus_test_daemon_get_address (f->daemon), TRUE);
  f->server = dbus_test_server_new (bus_kind);
  f->bus = dbus_test_connect (dbus_test_daemon_get_address (f->daemon));
  return TRUE;
}

static void
bus_fixture_tear_down (BusFixture *f, gconstpointer data)
{
  if (f->bus != NULL)
    g_dbus_connection_close_sync (f->bus, NULL, NULL);
  g_clear_object (&f->bus);
  g_clear_pointer (&f->server, ph_test_server_free);
  g_clear_pointer (&f->daemon, dbus_test_daemon_free);
  g_unsetenv ("DBUS_SYSTEM_BUS_ADDRESS");
}

static gboolean
can_become_nobody (void)
{
  if (geteuid () != 0)
    {
      g_test_skip ("needs root to run a client as uid 65534 (nobody)");
      return FALSE;
    }
  return TRUE;
}

/* Anyone may call everything on this bus: the daemon still refuses the
 * privileged methods to uid 65534, and still answers its property reads. */
static void
test_access_daemon_checks_uid (BusFixture *f, gconstpointer data)
{
  const char *status_argv[] = { "status", "--session", NULL };
  const char *sessions_argv[] = { "sessions", "--session", NULL };
  const char *reload_argv[] = { "reload", "--session", NULL };
  const char *kick_argv[] = { "kick", "--session", "alice@example.org", NULL };
  const char *const *denied[] = { sessions_argv, reload_argv, kick_argv };
  g_autofree char *out = NULL, *err = NULL;
  g_autoptr (PhTestClient) alice = NULL;

  if (!can_become_nobody ())
    return;
  bus_fixture_start (f, PERMISSIVE_POLICY, "session");
  dbus_test_wait_for_daemon (f->bus);
  alice = dbus_test_imap_login (f->server, "alice@example.org");

  g_assert_cmpint (dbus_test_run_ctl (status_argv, TRUE, &out, &err), ==, 0);
  g_assert_true (g_str_has_prefix (out, "posthornd "));
  for (guint i = 0; i < G_N_ELEMENTS (denied); i++)
    {
      g_clear_pointer (&out, g_free);
      g_clear_pointer (&err, g_free);
      g_assert_cmpint (dbus_test_run_ctl (denied[i], TRUE, &out, &err), ==, 1);
      g_assert_cmpstr (out, ==, "");
      g_assert_nonnull (strstr (err, "permission denied"));
      g_assert_nonnull (strstr (err, "is for root and members of group posthorn"));
    }
  /* Root may; alice was not kicked by the refused call. */
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (dbus_test_run_ctl (sessions_argv, FALSE, &out, &err), ==, 0);
  g_assert_nonnull (strstr (out, "alice@example.org"));
}

/* The shipped policy file on a bus configured like the system bus: uid
 * 65534 reads properties, the bus itself refuses it the methods, and the
 * daemon (root here) may own the name. */
static void
test_access_policy_file (BusFixture *f, gconstpointer data)
{
  g_autofree char *policy = NULL;
  const char *status_argv[] = { "status", "--system", "--json", NULL };
  const char *sessions_argv[] = { "sessions", NULL };
  const char *reload_argv[] = { "reload", NULL };
  g_autofree char *out = NULL, *err = NULL;

  if (!can_become_nobody ())
    return;
  policy = g_strconcat (SYSTEM_LIKE_POLICY, "  <include>" DBUS_POLICY_FILE "</include>\n", NULL);
  bus_fixture_start (f, policy, "system");
  dbus_test_wait_for_daemon (f->bus);

  g_assert_cmpint (dbus_test_run_ctl (status_argv, TRUE, &out, &err), ==, 0);
  g_assert_true (g_str_has_prefix (out, "{\"version\":"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  g_assert_cmpint (dbus_test_run_ctl (sessions_argv, TRUE, &out, &err), ==, 1);
  g_assert_nonnull (strstr (err, "permission denied"));
  /* The bus refused it, before the daemon saw it. */
  g_assert_null (strstr (err, "is for root and members of group posthorn"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  g_assert_cmpint (dbus_test_run_ctl (reload_argv, FALSE, &out, &err), ==, 0);
  g_assert_cmpstr (out, ==, "reloaded\n");
}

/* Without the policy file nobody may own the name on a system bus: one
 * warning, and mail goes on. */
static void
test_start_name_not_owned (BusFixture *f, gconstpointer data)
{
  g_autoptr (PhTestClient) alice = NULL;
  g_autofree char *log = NULL;
  const char *warning;

  bus_fixture_start (f, SYSTEM_LIKE_POLICY, "system");
  alice = dbus_test_imap_login (f->server, "alice@example.org");
  g_assert_true (ph_test_server_is_running (f->server));

  /* The warning comes once the name request was answered. */
  for (guint i = 0; i < 500; i++)
    {
      g_free (log);
      log = ph_test_server_get_log (f->server);
      if (strstr (log, "D-Bus:") != NULL)
        break;
      g_usleep (10000);
    }
  warning = strstr (log, "WARNING posthorn: D-Bus: cannot own the name org.posthorn.Posthorn1 "
                         "on the system bus (is org.posthorn.Posthorn1.conf installed");
  g_assert_nonnull (warning);
  g_assert_nonnull (strstr (warning, "; posthornd serves mail without its status interface\n"));
  g_assert_null (strstr (warning + strlen ("WARNING posthorn: D-Bus:"), "D-Bus:"));
  ph_test_client_send (alice, "c NOOP\r\n", -1);
  g_free (ph_test_client_expect_line_prefix (alice, "c OK"));
}

/* No bus at all: the same, from the connection attempt. */
static void
test_start_no_bus (void)
{
  g_autoptr (PhTestServer) server = NULL;
  g_autoptr (PhTestClient) alice = NULL;
  g_autofree char *log = NULL;

  g_setenv ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/posthorn-test-bus", TRUE);
  server = dbus_test_server_new ("session");
  alice = dbus_test_imap_login (server, "alice@example.org");
  for (guint i = 0; i < 500; i++)
    {
      g_free (log);
      log = ph_test_server_get_log (server);
      if (strstr (log, "D-Bus:") != NULL)
        break;
      g_usleep (10000);
    }
  g_assert_nonnull (strstr (log, "WARNING posthorn: D-Bus: cannot connect to the session bus: "));
  g_assert_true (ph_test_server_is_running (server));
  g_unsetenv ("DBUS_SESSION_BUS_ADDRESS");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/dbus/introspect/matches-xml", test_introspect_matches_xml);
  ADD ("/dbus/properties/version-start-plugins", test_properties_version_plugins);
  ADD ("/dbus/properties/listeners", test_properties_listeners);
  ADD ("/dbus/properties/sessions-counters", test_properties_sessions_counters);
  ADD ("/dbus/signals/properties-changed-after-login", test_signal_after_login);
  ADD ("/dbus/methods/list-sessions", test_method_list_sessions);
  ADD ("/dbus/methods/kick-user", test_method_kick_user);
  ADD ("/dbus/methods/reload", test_method_reload);
  ADD ("/dbus/plugin-object/properties", test_plugin_object);
  ADD ("/dbus/ctl/status", test_ctl_status);
  ADD ("/dbus/ctl/plugins", test_ctl_plugins);
  ADD ("/dbus/ctl/sessions-kick-reload", test_ctl_sessions_kick_reload);
  ADD ("/dbus/ctl/not-running", test_ctl_not_running);
#undef ADD
  g_test_add ("/dbus/access/daemon-checks-uid", BusFixture, NULL, NULL,
              test_access_daemon_checks_uid, bus_fixture_tear_down);
  g_test_add ("/dbus/access/policy-file", BusFixture, NULL, NULL,
              test_access_policy_file, bus_fixture_tear_down);
  g_test_add ("/dbus/start/name-not-owned", BusFixture, NULL, NULL,
              test_start_name_not_owned, bus_fixture_tear_down);
  g_test_add_func ("/dbus/start/no-bus", test_start_no_bus);
  return g_test_run ();
}
