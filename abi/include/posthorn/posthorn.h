/* Posthorn plugin ABI — the one header a plugin includes.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#define POSTHORN_INSIDE
#include <posthorn/posthorn-version.h>
#include <posthorn/posthorn-error.h>
#include <posthorn/posthorn-plugin.h>
#include <posthorn/posthorn-config.h>
#include <posthorn/posthorn-log.h>
#include <posthorn/posthorn-worker.h>
#include <posthorn/posthorn-events.h>
#include <posthorn/posthorn-connection.h>
#include <posthorn/posthorn-service.h>
#include <posthorn/posthorn-auth.h>
#include <posthorn/posthorn-message.h>
#include <posthorn/posthorn-store.h>
#include <posthorn/posthorn-status.h>
#include <posthorn/posthorn-filter.h>
#undef POSTHORN_INSIDE
