"""The link graph: load the files, measure the graph, draw it, read the scan."""
