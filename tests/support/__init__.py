"""What the tests share (no tests here): results written into the real store, the
endpoints served both ways, the alerting receivers, the processes they start, waiting."""
