/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ph-private.h"

G_DEFINE_QUARK (posthorn-error-quark, posthorn_error)
