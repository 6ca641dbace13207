from cncfdemo.cli import main

main()
