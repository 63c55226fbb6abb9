module callers

go 1.21
