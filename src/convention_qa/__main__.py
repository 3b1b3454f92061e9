from convention_qa.cli import main

main()
