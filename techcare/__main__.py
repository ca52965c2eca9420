from techcare.cli import main

raise SystemExit(main())
