L schema foo
