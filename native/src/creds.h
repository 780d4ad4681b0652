/* Identity and privileges of the workload: groups/gid/uid, capability sets, no_new_privs. */
#pragma once
#include "config.h"
#include "error.h"

int creds_apply (const monitor_config_t *cfg, tank_err_t *err);
