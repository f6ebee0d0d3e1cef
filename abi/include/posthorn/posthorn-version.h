/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(POSTHORN_INSIDE) && !defined(POSTHORN_COMPILATION)
#error "Only <posthorn/posthorn.h> can be included directly."
#endif

/* The plugin ABI version. A plugin is accepted when its major equals the
 * core's and its minor is not newer. Minor bumps only add; anything else is a
 * new major. It is independent of the release version. */
#define POSTHORN_ABI_MAJOR 1
#define POSTHORN_ABI_MINOR 0

/* The release this header came with (informational only). */
#define POSTHORN_VERSION "0.1.0"
