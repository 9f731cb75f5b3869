/* baton: the CLI and the MCP stdio shim (DESIGN §7); cli_main() dispatches. */
#include "config.h"

#include "shim.h"

int
main(int argc, char **argv)
{
	return (cli_main(argc, argv));
}
