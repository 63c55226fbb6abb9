module types

go 1.21
