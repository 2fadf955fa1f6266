L validate
