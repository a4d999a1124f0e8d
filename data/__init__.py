"""Sample data (the Beijing sample city) and its generators and loaders."""
