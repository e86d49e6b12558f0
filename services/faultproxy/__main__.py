from services.common.service_main import run_service
from services.faultproxy.service import main

if __name__ == "__main__":
    run_service("faultproxy", main)
