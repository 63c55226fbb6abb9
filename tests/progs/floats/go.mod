module floats

go 1.21
