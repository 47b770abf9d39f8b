import Ingress

// armada-ingress: the HTTP edge. Verifies and publishes; never writes business state.
await IngressProcess.main()
