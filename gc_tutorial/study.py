"""`python -m gc_tutorial.study`: the GC study's command line (`gc_tutorial.grids.study`)."""

if __name__ == "__main__":
    from gc_tutorial.grids.study import main

    main()
