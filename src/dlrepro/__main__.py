from dlrepro.cli import main

raise SystemExit(main())
