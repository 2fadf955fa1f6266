L daemon nodir --store sqlite:///d.db --exit-when-done
