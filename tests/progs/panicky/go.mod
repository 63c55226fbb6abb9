module panicky

go 1.21
