module counts

go 1.21
