from bench.engine import main

main()
