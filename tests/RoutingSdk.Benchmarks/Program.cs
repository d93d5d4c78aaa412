using BenchmarkDotNet.Running;

// dotnet run -c Release --project tests/RoutingSdk.Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
