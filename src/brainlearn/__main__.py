from brainlearn.cli import main

raise SystemExit(main())
