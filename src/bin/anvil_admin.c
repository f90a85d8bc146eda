/*
 * anvil_admin.c - anvil-admin, the operator's tool.
 *
 * The options, the command table and the dispatch are in the library
 * (src/admin/cli.c) so that the unit tests run the same code. Exit codes:
 * 0 success, 1 the operation failed, 2 usage error, 3 the configuration
 * was refused.
 */
#include "config.h"

#include "admin/admin.h"

int
main(int argc, char **argv)
{
	return admin_main(argc, argv);
}
