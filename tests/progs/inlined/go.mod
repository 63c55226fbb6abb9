module inlined

go 1.21
