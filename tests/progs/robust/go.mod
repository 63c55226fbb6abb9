module robust

go 1.21
