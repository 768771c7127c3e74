from agenttasks.cli.main import main

main()
