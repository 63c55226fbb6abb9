module freshheap

go 1.21
