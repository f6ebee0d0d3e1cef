/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(POSTHORN_INSIDE) && !defined(POSTHORN_COMPILATION)
#error "Only <posthorn/posthorn.h> can be included directly."
#endif

#include <gio/gio.h>

G_BEGIN_DECLS

G_END_DECLS
