// Command hearthd runs Hearth's PDS engine without the desktop shell.
//
//	hearthd serve --data-dir DIR --listen 127.0.0.1:PORT --public-url URL [--plc-url URL]
//	hearthd account create --data-dir DIR --handle H --password P [--email E] [--public-url URL]
//	hearthd invite create --data-dir DIR [--uses N]
//
// Every flag can also be given as an environment variable: HEARTH_ and the
// flag's name in upper case with dashes as underscores (HEARTH_DATA_DIR, …).
package main
