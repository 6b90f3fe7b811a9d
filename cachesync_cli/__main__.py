from cachesync_cli.cli import main

main()
