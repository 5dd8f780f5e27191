from edgecodec.cli.main import main

raise SystemExit(main())
