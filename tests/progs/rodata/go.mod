module rodata

go 1.21
