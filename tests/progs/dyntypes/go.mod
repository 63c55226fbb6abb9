module dyntypes

go 1.21
