module floatscgo

go 1.21
