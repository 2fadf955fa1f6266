L status --store sqlite:///
