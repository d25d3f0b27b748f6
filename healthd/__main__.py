from healthd.daemon.cli import main

raise SystemExit(main())
