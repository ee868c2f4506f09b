DEFAULT_NAME = "world"
