include $(sort $(wildcard $(BR2_EXTERNAL_DBG_PATH)/package/*/*.mk))
