"""Configuration: the algorithm registry, the range specs beside every setting, the checks that
refuse a bad config before JAX starts, and the choices the settings may take."""
