"""`python -m gc_tutorial.batch`: batch runs' command line (`gc_tutorial.grids.batch`)."""

if __name__ == "__main__":
    from gc_tutorial.grids.batch import main

    main()
