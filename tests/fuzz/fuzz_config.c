/*
 * fuzz_config.c - the configuration file reader (src/core/conf.c). A
 * config that parses has the required members and a sane deny list.
 */
#include "fuzz_common.h"

#include <sys/socket.h>

#include "core/conf.h"

FUZZ_QUIET_INIT()

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct anvil_config *cfg = NULL;
	char err[512];
	unsigned char addr[16] = { 0 };
	size_t i;

	err[0] = '\0';
	if (config_parse("fuzz.conf", (const char *)data, size, &cfg, err,
	    sizeof(err)) != ANVIL_OK) {
		FUZZ_REPORT("config_parse", 1, err);
		FUZZ_ASSERT(cfg == NULL);
		FUZZ_ASSERT(err[0] != '\0');
		return 0;
	}
	FUZZ_ASSERT(cfg != NULL);
	FUZZ_ASSERT(cfg->base_url != NULL && cfg->data_dir != NULL);
	FUZZ_ASSERT(cfg->data_dir[0] == '/');
	for (i = 0; i < cfg->deny_networks.n; i++) {
		const struct config_net *n = &cfg->deny_networks.v[i];

		FUZZ_ASSERT(n->family == AF_INET || n->family == AF_INET6);
		FUZZ_ASSERT(n->prefix <= (n->family == AF_INET ? 32u : 128u));
	}
	(void)config_net_denied(cfg, AF_INET, addr);
	(void)config_net_denied(cfg, AF_INET6, addr);
	config_free(cfg);
	return 0;
}
