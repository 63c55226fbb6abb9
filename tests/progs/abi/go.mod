module abi

go 1.21
