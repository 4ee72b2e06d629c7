"""Reports of a test run: Allure categories and the static HTML report (`nictest report`)."""
