L status --store foo://bar/baz
