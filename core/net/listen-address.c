/* Parsing listener addresses from config values. Pure: no lookups, no I/O.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ph-private.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/un.h>

static gboolean
parse_port (const char *text, guint16 *out, char **error_message)
{
  guint64 value = 0;

  if (*text == '\0')
    {
      *error_message = g_strdup ("a port number is missing after ':'");
      return FALSE;
    }
  for (const char *p = text; *p != '\0'; p++)
    {
      if (!g_ascii_isdigit (*p) || value > 65535)
        {
          *error_message = g_strdup_printf ("'%s' is not a port number (0-65535)", text);
          return FALSE;
        }
      value = value * 10 + (guint64) (*p - '0');
    }
  if (value > 65535)
    {
      *error_message = g_strdup_printf ("'%s' is not a port number (0-65535)", text);
      return FALSE;
    }
  *out = (guint16) value;
  return TRUE;
}

static char *
normalise_inet (int family, const char *text)
{
  guint8 raw[16];
  char buf[INET6_ADDRSTRLEN];

  if (inet_pton (family, text, raw) != 1)
    return NULL;
  if (inet_ntop (family, raw, buf, sizeof buf) == NULL)
    return NULL;
  return g_strdup (buf);
}

gboolean
ph_listen_address_parse (const char *text,
                         PhListenAddress *out,
                         char **error_message)
{
  g_autofree char *host = NULL;
  const char *port_text;
  PhListenFamily family;

  g_return_val_if_fail (text != NULL, FALSE);
  g_return_val_if_fail (out != NULL, FALSE);
  g_return_val_if_fail (error_message != NULL, FALSE);

  memset (out, 0, sizeof *out);
  *error_message = NULL;

  if (g_str_has_prefix (text, "unix:"))
    {
      const char *path = text + strlen ("unix:");
      struct sockaddr_un sun;

      if (path[0] != '/')
        {
          *error_message = g_strdup_printf ("'%s': a unix socket path must be absolute", text);
          return FALSE;
        }
      if (strlen (path) >= sizeof sun.sun_path)
        {
          *error_message = g_strdup_printf ("'%s': the socket path is longer than %zu bytes",
                                            text, sizeof sun.sun_path - 1);
          return FALSE;
        }
      out->family = PH_LISTEN_UNIX;
      out->address = g_strdup (path);
      out->port = 0;
      return TRUE;
    }

  if (text[0] == '[')
    {
      const char *close = strchr (text, ']');
      if (close == NULL)
        {
          *error_message = g_strdup_printf ("'%s': missing ']' after the IPv6 address", text);
          return FALSE;
        }
      if (close[1] != ':')
        {
          *error_message = g_strdup_printf ("'%s': expected ADDRESS:PORT", text);
          return FALSE;
        }
      host = g_strndup (text + 1, (gsize) (close - text - 1));
      port_text = close + 2;
      family = PH_LISTEN_INET6;
    }
  else
    {
      const char *colon = strrchr (text, ':');
      if (colon == NULL)
        {
          *error_message = g_strdup_printf ("'%s': expected ADDRESS:PORT, [IPv6]:PORT, *:PORT or unix:/path", text);
          return FALSE;
        }
      host = g_strndup (text, (gsize) (colon - text));
      port_text = colon + 1;
      if (strchr (host, ':') != NULL)
        {
          *error_message = g_strdup_printf ("'%s': write an IPv6 address in brackets, e.g. [::1]:143", text);
          return FALSE;
        }
      family = strcmp (host, "*") == 0 ? PH_LISTEN_ANY : PH_LISTEN_INET4;
    }

  if (!parse_port (port_text, &out->port, error_message))
    {
      g_autofree char *reason = *error_message;
      *error_message = g_strdup_printf ("'%s': %s", text, reason);
      return FALSE;
    }

  switch (family)
    {
    case PH_LISTEN_ANY:
      out->address = g_strdup ("*");
      break;
    case PH_LISTEN_INET4:
      out->address = normalise_inet (AF_INET, host);
      if (out->address == NULL)
        {
          *error_message = g_strdup_printf ("'%s': '%s' is not a numeric IPv4 address", text, host);
          return FALSE;
        }
      break;
    case PH_LISTEN_INET6:
      out->address = normalise_inet (AF_INET6, host);
      if (out->address == NULL)
        {
          *error_message = g_strdup_printf ("'%s': '%s' is not a numeric IPv6 address", text, host);
          return FALSE;
        }
      break;
    case PH_LISTEN_UNIX:
    default:
      g_assert_not_reached ();
    }
  out->family = family;
  return TRUE;
}

void
ph_listen_address_clear (PhListenAddress *address)
{
  g_clear_pointer (&address->address, g_free);
}

static gboolean
is_wildcard_of (const PhListenAddress *wild, const PhListenAddress *other)
{
  if (wild->family == PH_LISTEN_ANY)
    return other->family != PH_LISTEN_UNIX;
  if (wild->family == PH_LISTEN_INET4 && strcmp (wild->address, "0.0.0.0") == 0)
    return other->family == PH_LISTEN_INET4;
  if (wild->family == PH_LISTEN_INET6 && strcmp (wild->address, "::") == 0)
    return other->family == PH_LISTEN_INET6;
  return FALSE;
}

gboolean
ph_listen_address_conflicts (const PhListenAddress *a,
                             const PhListenAddress *b)
{
  if (a->family == PH_LISTEN_UNIX || b->family == PH_LISTEN_UNIX)
    return a->family == b->family && strcmp (a->address, b->address) == 0;
  if (a->port == 0 || b->port == 0 || a->port != b->port)
    return FALSE;
  if (a->family == b->family && strcmp (a->address, b->address) == 0)
    return TRUE;
  return is_wildcard_of (a, b) || is_wildcard_of (b, a);
}

char *
ph_listen_address_to_string (const PhListenAddress *address)
{
  switch (address->family)
    {
    case PH_LISTEN_UNIX:
      return g_strconcat ("unix:", address->address, NULL);
    case PH_LISTEN_INET6:
      return g_strdup_printf ("[%s]:%u", address->address, address->port);
    case PH_LISTEN_INET4:
    case PH_LISTEN_ANY:
    default:
      return g_strdup_printf ("%s:%u", address->address, address->port);
    }
}
