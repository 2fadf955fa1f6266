L edit gated gated-0000-00 x1=-inf --store sqlite:///multi.db
