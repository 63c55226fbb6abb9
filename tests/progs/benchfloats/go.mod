module benchfloats

go 1.21
