L plugins foo
